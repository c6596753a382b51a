/**
 * The config file of `agentbus serve`: store, NATS, and the server with its tokens.
 */
export { MIN_TOKEN_LENGTH, loadConfig, parseConfig } from './load.js';
export { CONFIG_SCHEMA, DEFAULT_BODY_LIMIT, DEFAULT_HOST, DEFAULT_PORT, parseByteSize } from './schema.js';
export type { AgentbusConfig, ParseConfigOptions, ServerConfig, TokenConfig, TopicRules } from './load.js';
export type { ConfigFile } from './schema.js';
