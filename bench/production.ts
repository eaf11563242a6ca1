/**
 * Imported first by a benchmark that compares against a bare server: graphql-js (its instanceOf checks),
 * Apollo (its defaults) and Express read NODE_ENV when they load or start, so both servers of one run are
 * measured in production mode, as `dsr serve` runs in production.
 */
process.env.NODE_ENV = "production";
