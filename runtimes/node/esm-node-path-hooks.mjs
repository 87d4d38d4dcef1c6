// The resolve hook of esm-node-path.mjs: a bare specifier Node did not find is looked up
// as if imported from a file inside each NODE_PATH directory (whose own node_modules
// lookup then finds the package there).
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dirs = (process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean);

export async function resolve(specifier, context, nextResolve) {
	try {
		return await nextResolve(specifier, context);
	} catch (e) {
		const bare = !/^(\.|\/|[a-zA-Z][a-zA-Z0-9+.-]*:)/.test(specifier);
		if (!bare || e?.code !== 'ERR_MODULE_NOT_FOUND')
			throw e;
		for (const dir of dirs) {
			const parentURL = pathToFileURL(path.join(dir, 'noop.mjs')).href;
			try {
				return await nextResolve(specifier, { ...context, parentURL });
			} catch {
				// the next directory
			}
		}
		throw e;
	}
}
