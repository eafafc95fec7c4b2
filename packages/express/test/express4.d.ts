// Express 4 is installed under the alias `express4`; its API used here is the same as Express 5's types describe.
declare module 'express4' {
  import express = require('express');
  export = express;
}
