export { clearanceRoutes } from './routes.ts';
export { ClearanceService } from './service.ts';
