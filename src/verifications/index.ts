export { latestVerification, receiveAnswer, receiveRequest, type Verification, VerificationService } from './service.ts';
export { verificationRoutes } from './routes.ts';
