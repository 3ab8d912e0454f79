export { type Agreement, AgreementBook, agreementViolations, issueDateProblem, type RuleViolation, validUntil } from './book.ts';
export { agreementRoutes } from './routes.ts';
