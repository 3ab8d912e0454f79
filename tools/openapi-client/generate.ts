// TypeScript types of an OpenAPI document, by openapi-typescript. It lives in this workspace to
// resolve the TypeScript 5 installed here: openapi-typescript builds its output with the compiler
// API, which the project's TypeScript 7 does not have.
import openapiTS, { astToString } from 'openapi-typescript';

/** The `paths` and `components` types of the document at `file`, as a module's text. */
export async function generateTypes(file: URL): Promise<string> {
  return astToString(await openapiTS(file));
}
