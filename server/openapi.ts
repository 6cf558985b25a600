// The OpenAPI 3.1 document served at /api/v1/openapi.json. Request bodies
// are generated from the same zod schemas the handlers validate with, so the
// document cannot drift from what the server accepts.

import { z } from 'zod';
import { completeBody, createBuildBody, createRepoBody, createTokenBody, enqueueJobBody, failBody, heartbeatBody, leaseBody, promoteBody, updateRepoBody } from './request-schemas.js';

type Op = Record<string, unknown>;

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, hint: { type: 'string' } } } },
};

function jsonBody(schema: z.ZodType): Op {
  return { required: true, content: { 'application/json': { schema: z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) } } };
}

const err = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
const ok = (description: string) => ({ description, content: { 'application/json': { schema: { type: 'object' } } } });

function op(summary: string, opts: { scope?: 'builder' | 'admin'; body?: z.ZodType; responses: Record<string, unknown>; params?: string[]; query?: string[] }): Op {
  const parameters = [
    ...(opts.params ?? []).map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
    ...(opts.query ?? []).map((name) => ({ name, in: 'query', required: false, schema: { type: 'string' } })),
  ];
  const responses: Record<string, unknown> = { ...opts.responses, '400': err('malformed request (bad JSON, bad fields)') };
  if (opts.scope) Object.assign(responses, { '401': err('no or invalid token'), '403': err(`token lacks the ${opts.scope} scope`) });
  return {
    summary,
    ...(opts.scope ? { security: [{ bearer: [] }], 'x-lxl-scope': opts.scope } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(opts.body ? { requestBody: jsonBody(opts.body) } : {}),
    responses,
  };
}

/** Builds the OpenAPI document. */
export function openApiDocument(version: string): Record<string, unknown> {
  const repo = ['repo'];
  return {
    openapi: '3.1.0',
    info: { title: 'lxl server API', version, description: 'Uploads, catalogue, builder job queue and publishing for linux-xen-legacy repos. Errors are JSON: { error: { code, message, hint } }.' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'lxl.<id>.<secret> tokens from `lxl tokens create`; scopes builder (upload, jobs) and admin (everything)' } },
      schemas: { Error: errorSchema },
    },
    paths: {
      '/healthz': { get: op('Liveness', { responses: { '200': ok('alive') } }) },
      '/readyz': { get: op('Readiness (store, artifact folder, not draining)', { responses: { '200': ok('ready'), '503': ok('not ready') } }) },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'text exposition format', content: { 'text/plain': {} } } } } },
      '/api/v1/repos': {
        get: op('List repos', { responses: { '200': ok('repos') } }),
        post: op('Create a repo', { scope: 'admin', body: createRepoBody, responses: { '201': ok('created'), '409': err('name taken') } }),
      },
      '/api/v1/repos/{repo}': {
        get: op('One repo', { params: repo, responses: { '200': ok('repo'), '404': err('no such repo') } }),
        put: op('Replace a repo\'s settings', { scope: 'admin', params: repo, body: updateRepoBody, responses: { '200': ok('updated'), '404': err('no such repo') } }),
      },
      '/api/v1/repos/{repo}/packages': { get: op('Packages in a repo', { params: repo, query: ['channel', 'kind'], responses: { '200': ok('packages'), '404': err('no such repo') } }) },
      '/api/v1/repos/{repo}/packages/{id}': { get: op('One package', { params: [...repo, 'id'], responses: { '200': ok('package'), '404': err('not found') } }) },
      '/api/v1/repos/{repo}/uploads': {
        post: {
          ...op('Upload a package (.deb, .rpm, .tar.xz, .tar.gz)', {
            scope: 'builder',
            params: repo,
            responses: {
              '201': ok('stored and catalogued'),
              '200': ok('the same bytes were already catalogued'),
              '404': err('no such repo or build'),
              '409': err('same name, version and arch already stored with other bytes'),
              '413': err('larger than limits.maxUploadBytes'),
              '422': err('stated sha256/size mismatch, invalid package, unknown arch, name outside the kernel line, unsafe tar path'),
              '503': err('shutting down'),
            },
          }),
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  required: ['file', 'sha256', 'size'],
                  properties: {
                    file: { type: 'string', format: 'binary' },
                    sha256: { type: 'string', pattern: '^[0-9a-fA-F]{64}$', description: 'or header X-Lxl-Sha256' },
                    size: { type: 'string', pattern: '^[0-9]+$', description: 'or header X-Lxl-Size' },
                    line: { type: 'string', description: 'kernel line, e.g. 6.1 (required unless build is given)' },
                    build: { type: 'string', description: 'build id the package belongs to' },
                  },
                },
              },
            },
          },
        },
      },
      '/api/v1/repos/{repo}/builds': {
        get: op('Builds of a repo', { params: repo, responses: { '200': ok('builds') } }),
        post: op('Record a build', { scope: 'builder', params: repo, body: createBuildBody, responses: { '201': ok('created') } }),
      },
      '/api/v1/repos/{repo}/builds/{id}': { get: op('One build with its packages', { params: [...repo, 'id'], responses: { '200': ok('build'), '404': err('not found') } }) },
      '/api/v1/repos/{repo}/builds/{id}/promote': {
        post: op('Promote a build (testing → stable)', { scope: 'admin', params: [...repo, 'id'], body: promoteBody, responses: { '200': ok('promoted'), '404': err('not found') } }),
      },
      '/api/v1/repos/{repo}/publish': {
        post: op('Start publishing the repo', { scope: 'admin', params: repo, responses: { '202': ok('started; poll /api/v1/publishes/{id}'), '404': err('no such repo'), '409': err('a publish of this repo is running'), '503': err('shutting down') } }),
      },
      '/api/v1/repos/{repo}/publishes': { get: op('Recent publishes of a repo', { params: repo, responses: { '200': ok('publishes') } }) },
      '/api/v1/publishes/{id}': { get: op('Poll one publish', { params: ['id'], responses: { '200': ok('publish'), '404': err('not found') } }) },
      '/api/v1/jobs': {
        get: op('List jobs', { query: ['state', 'repo'], responses: { '200': ok('jobs') } }),
        post: op('Enqueue a job', { scope: 'admin', body: enqueueJobBody, responses: { '201': ok('queued'), '404': err('no such repo') } }),
      },
      '/api/v1/jobs/lease': { post: op('Lease the oldest queued job', { scope: 'builder', body: leaseBody, responses: { '200': ok('leased: job, leaseId, leaseExpiresAt'), '204': { description: 'queue empty' } } }) },
      '/api/v1/jobs/{id}': { get: op('One job', { params: ['id'], responses: { '200': ok('job'), '404': err('not found') } }) },
      '/api/v1/jobs/{id}/heartbeat': { post: op('Extend a lease', { scope: 'builder', params: ['id'], body: heartbeatBody, responses: { '200': ok('extended'), '409': err('lease lost') } }) },
      '/api/v1/jobs/{id}/complete': { post: op('Finish a job', { scope: 'builder', params: ['id'], body: completeBody, responses: { '200': ok('done'), '409': err('lease lost') } }) },
      '/api/v1/jobs/{id}/fail': { post: op('Fail an attempt (requeued while attempts remain and retry is true)', { scope: 'builder', params: ['id'], body: failBody, responses: { '200': ok('recorded'), '409': err('lease lost') } }) },
      '/api/v1/jobs/{id}/log': {
        get: { summary: 'Read the build log from ?offset= (X-Lxl-Log-Next gives the next offset)', parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { '200': { description: 'log text', content: { 'text/plain': {} } }, '404': err('not found') } },
        post: { summary: 'Append build-log text (header X-Lxl-Lease)', security: [{ bearer: [] }], 'x-lxl-scope': 'builder', requestBody: { content: { 'text/plain': {} } }, responses: { '200': ok('new log size'), '409': err('lease lost or log too large') } },
      },
      '/api/v1/tokens': {
        get: op('List tokens (no secrets)', { scope: 'admin', responses: { '200': ok('tokens') } }),
        post: op('Create a token (its text is shown once)', { scope: 'admin', body: createTokenBody, responses: { '201': ok('token and record') } }),
      },
      '/api/v1/tokens/{id}': { delete: op('Revoke a token', { scope: 'admin', params: ['id'], responses: { '200': ok('revoked'), '404': err('not found') } }) },
      '/api/v1/audit': { get: op('Audit log, newest first', { scope: 'admin', query: ['limit', 'target'], responses: { '200': ok('entries') } }) },
    },
  };
}
