'use strict';
/** The service of servers.js's grpc server and of the grpc client of clients.js: one unary method, raw bytes both ways. */
const same = (b) => b;

const GRPC_ECHO = {
  echo: { path: '/bench.Echo/Echo', requestStream: false, responseStream: false, requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same },
};

module.exports = { GRPC_ECHO };
