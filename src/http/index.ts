export { throttledAddress } from './address.ts';
export { Admission } from './admission.ts';
export { type AppOptions, type AuthInstaller, buildApp, type RateLimit, type RoutePlugin } from './app.ts';
export { exampleFile } from './document.ts';
export { healthRoutes, type Readiness } from './health.ts';
export { sendPdf } from './pdf.ts';
export { apiSchemas, problemSchema, problems } from './schemas.ts';
