export { type KeyInfo, OwnKeys } from './own-keys.ts';
export { keyRoutes } from './routes.ts';
export { Vault, WrongKeyError } from './vault.ts';
