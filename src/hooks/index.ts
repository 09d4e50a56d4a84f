import { httpHook } from './http';
import { httpServerHook } from './httpServer';
import { fetchHook } from './fetch';
import { axiosHook } from './axios';
import { pgHook } from './pg';
import { redisHook } from './redis';
import { ioredisHook } from './ioredis';
import { mysql2Hook } from './mysql2';
import { mysqlHook } from './mysql';
import { knexHook } from './knex';
import { amqplibHook } from './amqplib';
import { grpcHook } from './grpc';
import { awsSdkHook } from './aws-sdk';
import { expressHook } from './express';
import { koaHook } from './koa';
import { fastifyHook } from './fastify';
import { hapiHook } from './hapi';
import { mongodbHook } from './mongodb';
import { graphqlHook } from './graphql';
import { kafkajsHook } from './kafkajs';
import { natsHook } from './nats';
import { bullmqHook } from './bullmq';
import { socketIoHook } from './socket.io';
import { pinoHook } from './pino';
import { winstonHook } from './winston';
import { bunyanHook } from './bunyan';

/** Every hook this package knows, in install order. Names, options and config types derive from it. */
export const HOOKS = [httpHook, httpServerHook, fetchHook, axiosHook, pgHook, redisHook, ioredisHook, mysql2Hook, mysqlHook, knexHook, amqplibHook, grpcHook, awsSdkHook, expressHook, koaHook, fastifyHook, hapiHook, mongodbHook, graphqlHook, kafkajsHook, natsHook, bullmqHook, socketIoHook, pinoHook, winstonHook, bunyanHook] as const;
