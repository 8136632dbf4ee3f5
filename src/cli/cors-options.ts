// vLLM's CORS flags, shared by `serve` and `serve-pooling`: --allowed-origins, --allowed-methods and
// --allowed-headers take JSON lists (vLLM parses them with json.loads); --allow-credentials is a switch.
import type { ParseArgsConfig } from 'node:util';
import { InvalidArgumentError } from '../core/errors.js';
import { parseJsonList, type CorsOptions } from '../service/cors.js';

/** parseArgs options for the CORS flags. */
export const CORS_OPTIONS = {
  'allowed-origins': { type: 'string', default: '["*"]' },
  'allowed-methods': { type: 'string', default: '["*"]' },
  'allowed-headers': { type: 'string', default: '["*"]' },
  'allow-credentials': { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

/** Help lines for {@link CORS_OPTIONS}. */
export const CORS_HELP = `  --allowed-origins JSON   origins browsers may call from, as vLLM (default '["*"]': every origin)
  --allowed-methods JSON   methods a preflight may ask for (default '["*"]')
  --allowed-headers JSON   request headers a preflight may ask for (default '["*"]')
  --allow-credentials      send Access-Control-Allow-Credentials: true (default off)`;

/** The CORS options the flags ask for. */
export function corsFromFlags(values: {
  'allowed-origins': string;
  'allowed-methods': string;
  'allowed-headers': string;
  'allow-credentials'?: boolean | undefined;
}): CorsOptions {
  const list = (flag: string, value: string): readonly string[] => {
    const parsed = parseJsonList(flag, value);
    if (typeof parsed === 'string') throw new InvalidArgumentError(parsed);
    return parsed;
  };
  return {
    allowedOrigins: list('--allowed-origins', values['allowed-origins']),
    allowedMethods: list('--allowed-methods', values['allowed-methods']),
    allowedHeaders: list('--allowed-headers', values['allowed-headers']),
    allowCredentials: values['allow-credentials'] === true,
  };
}
