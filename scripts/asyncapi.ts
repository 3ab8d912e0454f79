// `npm run asyncapi`: writes asyncapi.yaml from the message schemas (a test keeps it in step).
import { writeFileSync } from 'node:fs';
import { asyncapiDocument } from '../src/exchange/asyncapi.ts';

writeFileSync(new URL('../asyncapi.yaml', import.meta.url), asyncapiDocument());
console.log('asyncapi.yaml written');
