export { verificationRoutes } from './routes.ts';
export { latestVerification, receiveAnswer, receiveRequest, type Verification, VerificationService } from './service.ts';
