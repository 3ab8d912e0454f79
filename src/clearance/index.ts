export { ClearanceService } from './service.ts';
export { clearanceRoutes } from './routes.ts';
