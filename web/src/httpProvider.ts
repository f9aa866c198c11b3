/**
 * The HTTP transports (SSE and long polling), one module each over a shared base that speaks
 * the y-websocket protocol; this module gathers them so importers need one path.
 */
export { HttpProvider, type ConnStatus, type HttpProviderOptions, type ProviderEvents } from './httpProviderBase'
export { SseProvider, type EventSourceCtor, type EventSourceLike, type SseProviderOptions } from './sseProvider'
export { PollProvider } from './pollProvider'
