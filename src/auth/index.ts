export { type ApiClient, createApiKey, installAuth, KeyLookup, listApiClients, revokeApiKey, type Role, roleSchema, roles } from './api-keys.ts';
export { authRoutes } from './routes.ts';
