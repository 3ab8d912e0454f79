export { type ApiClient, createApiKey, installAuth, KeyLookup, listApiClients, type Role, revokeApiKey, roleSchema, roles, withinLimit } from './api-keys.ts';
export { authRoutes } from './routes.ts';
