import assert from 'node:assert/strict';
import { redisConnection } from '../../src/cores/redis';
import { serializeRedisCommand } from '../../src/redis-statement';

describe('redis statement redaction', () => {
  const cases: Array<[string, unknown[], string]> = [
    ['SET', ['k', 'v'], 'SET k ?'],
    ['set', ['k', 'v', 'EX', '10'], 'SET k ? ? ?'],
    ['GET', ['k'], 'GET k'],
    ['GET', [Buffer.from('buf-key')], 'GET buf-key'],
    ['HSET', ['h', 'f', 'v'], 'HSET h f ?'],
    ['HSET', ['h', 'f1', 'v1', 'f2', 'v2'], 'HSET h f1 ? f2 ?'],
    ['HGET', ['h', 'f'], 'HGET h f'],
    ['MSET', ['a', '1', 'b', '2'], 'MSET a ? b ?'],
    ['DEL', ['a', 'b'], 'DEL a b'],
    ['LPUSH', ['l', 'x', 'y'], 'LPUSH l ? ?'],
    ['AUTH', ['user', 'pass'], 'AUTH'],
    ['AUTH', ['pass'], 'AUTH'],
    ['HELLO', ['3', 'AUTH', 'user', 'pass'], 'HELLO'],
    ['CONFIG', ['SET', 'requirepass', 'secret'], 'CONFIG'],
    ['CONFIG', ['GET', 'maxmemory'], 'CONFIG GET'],
    ['ACL', ['SETUSER', 'bob', '>pw'], 'ACL'],
    ['MIGRATE', ['host', '6379', 'key', '0', '1000', 'AUTH', 'pw'], 'MIGRATE'],
    ['FOOBAR', ['secret'], 'FOOBAR'],
    ['EVAL', ['return 1', '0'], 'EVAL ? ?'],
    ['PING', [], 'PING'],
  ];
  for (const [cmd, args, expected] of cases) {
    it(`${cmd} ${args.join(' ')} -> ${expected}`, () => assert.equal(serializeRedisCommand(cmd, args), expected));
  }
});

describe('redis connection facts', () => {
  it('a URL gives host, port and database, never its credentials', () => {
    const connection = redisConnection({ url: 'redis://user:Top-Secret@cache.internal:6380/3' });
    assert.deepEqual(connection, { instance: 3, host: 'cache.internal', port: 6380 });
    assert.ok(!JSON.stringify(connection).includes('Top-Secret'));
  });

  it('defaults: localhost, 6379, database 0; an explicit database wins over the URL path', () => {
    assert.deepEqual(redisConnection({}), { instance: 0, host: 'localhost', port: 6379 });
    assert.deepEqual(redisConnection({ url: 'redis://h/5', db: 2 }), { instance: 2, host: 'h', port: 6379 });
  });

  it('a Unix socket is the host, with no port', () => {
    assert.deepEqual(redisConnection({ path: '/run/redis.sock', port: 6379 }), { instance: 0, host: '/run/redis.sock', port: undefined });
  });

  it('an unparsable URL keeps what the other options say', () => {
    assert.deepEqual(redisConnection({ url: 'not a url', host: 'h', port: 1 }), { instance: 0, host: 'h', port: 1 });
  });
});
