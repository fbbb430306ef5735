import { loadApp } from './app-loader.js';
import { serve } from './lifecycle.js';
import { runServer } from './run.js';

// `npm start` in this repository; an app's authgate.config.* in the working folder is read too.
await serve(async () => runServer(await loadApp()));
