// For functions that run on the host (--isolation none) only: ES modules do not search
// NODE_PATH, and there is no /var/node_modules leading to the runtime's AWS SDK as in a
// sandbox, so this resolve hook retries a bare specifier that was not found from each
// NODE_PATH directory, after Node's own resolution (a function's node_modules wins).
// Loaded by bootstrap with --import; hooks run on their own thread, a cost that
// sandboxes do not pay.
import { register } from 'node:module';

register('./esm-node-path-hooks.mjs', import.meta.url);
