/** Where the app serves its built-in model (`npm run prepare-model` writes it under public/). */
export const BUILTIN_MODEL_URL = '/models/stories260K/';
