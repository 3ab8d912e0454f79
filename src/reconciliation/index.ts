export { reconciliationRoutes } from './routes.ts';
export { answerStatement, type ReceivedLines, type Reconciliation, Reconciliations, recordAnswer, scheduledPeriod } from './service.ts';
export { differingBuckets, type Line, linesIn, tallyOf } from './tally.ts';
