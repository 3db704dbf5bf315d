export { createClientServer, listen, bindAddressOf } from './grpc-server';
export { grpcErrorSpec, toServiceError } from './errors';
