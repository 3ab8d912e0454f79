// `npm run openapi`: writes openapi.yaml from the routes' zod schemas (a test keeps it in step).
import { writeFileSync } from 'node:fs';
import { openapiDocument } from '../src/openapi.ts';

writeFileSync(new URL('../openapi.yaml', import.meta.url), await openapiDocument());
console.log('openapi.yaml written');
