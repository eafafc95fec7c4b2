export { main, VERSION } from './main';
export { EXIT } from './io';
export type { CliIo, ExitCode } from './io';
export type { CliErrorCode } from './errors';
export type { RecordJson, ResponseJson } from './format';
