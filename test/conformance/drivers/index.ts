import type { Driver } from '../driver';
import { expressDrivers } from './express';
import { pgDriver } from './pg';
import { redisDrivers } from './redis';
import { ioredisDrivers } from './ioredis';
import { httpDriver } from './http';
import { httpServerDriver } from './httpServer';
import { fetchDriver } from './fetch';
import { axiosDrivers } from './axios';
import { mysql2Driver } from './mysql2';
import { amqplibDrivers } from './amqplib';
import { grpcDrivers } from './grpc';
import { awsSdkDrivers } from './aws-sdk';
import { koaDrivers } from './koa';
import { fastifyDrivers } from './fastify';
import { hapiDriver } from './hapi';
import { mongodbDrivers } from './mongodb';
import { graphqlDrivers } from './graphql';

/** Every conformance driver: one per hook and per major version of its library. */
export const DRIVERS: Driver[] = [pgDriver, ...redisDrivers, ...ioredisDrivers, httpDriver, httpServerDriver, fetchDriver, ...axiosDrivers, mysql2Driver, ...amqplibDrivers, ...grpcDrivers, ...awsSdkDrivers, ...expressDrivers, ...koaDrivers, ...fastifyDrivers, hapiDriver, ...mongodbDrivers, ...graphqlDrivers];
