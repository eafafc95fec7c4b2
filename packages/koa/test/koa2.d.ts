// Koa 2 is installed under the alias `koa2`; the API used here is the one @types/koa describes.
declare module 'koa2' {
  import Koa = require('koa');
  export = Koa;
}
