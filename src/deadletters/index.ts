export { type DeadLetter, type DeadLetterDetail, type DeadLetterStatus, DeadLetters, countHeld } from './store.ts';
export { drainDeadLetter, publishDeadLetter } from './drain.ts';
export { deadLetterRoutes, deadLetterSchema } from './routes.ts';
