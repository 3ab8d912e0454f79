export { drainDeadLetter, publishDeadLetter } from './drain.ts';
export { deadLetterRoutes, deadLetterSchema } from './routes.ts';
export { countHeld, type DeadLetter, type DeadLetterDetail, type DeadLetterStatus, DeadLetters } from './store.ts';
