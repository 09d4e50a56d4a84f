import assert from 'node:assert/strict';
import { credentialsOf, hostPort, isAbsoluteUrl, isIPv6, pathOf, redactedParts, redactText, spanUrlOf, splitHostPort, stripCredentials, stripQuery, urlForSpan } from '../../src/url';

describe('url helpers', () => {
  describe('stripCredentials', () => {
    const cases: Array<[string, string]> = [
      ['http://user:pw@host/p', 'http://host/p'],
      ['https://user@host:8443/p?q=1', 'https://host:8443/p?q=1'],
      ['http://a%40b:p%3Aw@host', 'http://host'],
      ['http://user:pw@[::1]:8080/x', 'http://[::1]:8080/x'],
      // An `@` after the authority (path, query, fragment) is not a credential.
      ['http://host/users/@me', 'http://host/users/@me'],
      ['http://host?mail=a@b.c', 'http://host?mail=a@b.c'],
      ['http://host#frag@x', 'http://host#frag@x'],
      ['http://user:pw@host/a@b?c=d@e', 'http://host/a@b?c=d@e'],
      // The last `@` of the authority ends the userinfo, as in WHATWG.
      ['http://a@b:pw@host/p', 'http://host/p'],
      // A backslash ends the authority of a special URL.
      ['http://host\\x@y/p', 'http://host\\x@y/p'],
      // Not absolute: left as it is.
      ['/path//user:pw@host', '/path//user:pw@host'],
      ['host/a@b', 'host/a@b'],
      ['', ''],
    ];
    for (const [input, expected] of cases) it(`${input} -> ${expected}`, () => assert.equal(stripCredentials(input), expected));
  });

  /** One test per title: `fn(input, keepQuery)` gives `expected` for each of its rows. */
  function mapsEach<I>(fn: (input: I, keepQuery: boolean) => string, tests: Record<string, Array<[I, boolean, string]>>): void {
    for (const [title, rows] of Object.entries(tests)) {
      it(title, () => {
        for (const [input, keepQuery, expected] of rows) assert.equal(fn(input, keepQuery), expected);
      });
    }
  }

  describe('stripQuery', () => {
    mapsEach(stripQuery, {
      'drops the query and the fragment': [
        ['http://h/p?q=1#f', false, 'http://h/p'],
        ['/p?q=1', false, '/p'],
        ['/p', false, '/p'],
      ],
      'keeps the query when asked, never the fragment': [
        ['http://h/p?q=1#f', true, 'http://h/p?q=1'],
        ['http://h/p#f?x', true, 'http://h/p'],
      ],
    });
  });

  describe('urlForSpan', () => {
    const url = new URL('https://u:p@example.com:8443/a/b?c=d#e');
    mapsEach<string | URL>(urlForSpan, {
      'strings: no credentials, no query unless asked': [
        ['http://u:p@h:81/a?token=1#x', false, 'http://h:81/a'],
        ['http://u:p@h:81/a?token=1#x', true, 'http://h:81/a?token=1'],
        ['http://h/users/@me?x=a@b', false, 'http://h/users/@me'],
      ],
      'URL objects: the same': [
        [url, false, 'https://example.com:8443/a/b'],
        [url, true, 'https://example.com:8443/a/b?c=d'],
        [new URL('http://[::1]:8080/x'), false, 'http://[::1]:8080/x'],
      ],
      'an absolute-form request target is a URL like any other': [['http://user:pw@proxy.target/p?q=1', false, 'http://proxy.target/p']],
    });
  });

  describe('splitHostPort', () => {
    const cases: Array<[string, number, string, number]> = [
      ['example.com:8080', 80, 'example.com', 8080],
      ['example.com', 443, 'example.com', 443],
      ['example.com:', 80, 'example.com', 80],
      ['example.com:99999', 80, 'example.com', 80],
      ['example.com:abc', 80, 'example.com', 80],
      ['[::1]:8080', 80, '::1', 8080],
      ['[::1]', 443, '::1', 443],
      ['[2001:db8::1]:443', 80, '2001:db8::1', 443],
      ['::1', 80, '::1', 80],
      ['2001:db8::1', 80, '2001:db8::1', 80],
      ['user:pw@host:81', 80, 'host', 81],
      ['user:pw@[::1]:81', 80, '::1', 81],
      ['127.0.0.1:5432', 80, '127.0.0.1', 5432],
    ];
    for (const [input, defaultPort, hostname, port] of cases) {
      it(`${input} (default ${defaultPort}) -> ${hostname} ${port}`, () => assert.deepEqual(splitHostPort(input, defaultPort), { hostname, port }));
    }
  });

  it('isAbsoluteUrl: scheme and //', () => {
    assert.equal(isAbsoluteUrl('http://h/p'), true);
    assert.equal(isAbsoluteUrl('HTTPS://h'), true);
    assert.equal(isAbsoluteUrl('git+ssh://h'), true);
    assert.equal(isAbsoluteUrl('/p'), false);
    assert.equal(isAbsoluteUrl('//h/p'), false);
    assert.equal(isAbsoluteUrl('h:80'), false);
  });

  it('pathOf: what follows the authority', () => {
    assert.equal(pathOf('http://h:80/a/b?q=1'), '/a/b?q=1');
    assert.equal(pathOf('http://h'), '/');
    assert.equal(pathOf('http://h?q'), '/?q');
    assert.equal(pathOf('http://u:p@h/x@y'), '/x@y');
  });

  it('isIPv6 and hostPort: brackets for IPv6 only', () => {
    assert.equal(isIPv6('::1'), true);
    assert.equal(isIPv6('[::1]'), false);
    assert.equal(isIPv6('user:pw@host'), false);
    assert.equal(hostPort('::1', 80), '[::1]:80');
    assert.equal(hostPort('example.com', 443), 'example.com:443');
  });

  describe('redactedParts and redactText', () => {
    it('the credentials, and the query unless kept', () => {
      assert.deepEqual(redactedParts('http://u:p@h/a?t=1#f', false), ['u:p@', '?t=1']);
      assert.deepEqual(redactedParts('http://u:p@h/a?t=1#f', true), ['u:p@']);
      assert.deepEqual(redactedParts('http://h/a', false), []);
      assert.deepEqual(redactedParts('http://h/users/@me', false), []);
    });
    it('credentialsOf: the userinfo of the authority only, as redactedParts takes it', () => {
      assert.equal(credentialsOf('http://u:p@h/a?t=1#f'), 'u:p@');
      assert.equal(credentialsOf('http://a@b@h:8080?x=@y'), 'a@b@');
      assert.equal(credentialsOf('http://h/users/@me'), undefined);
      assert.equal(credentialsOf('/relative/@path'), undefined);
    });
    it('spanUrlOf: what urlForSpan and redactedParts give, and the URL itself when there is nothing to take out', () => {
      const urls = ['http://h/a', 'http://u:p@h:81/a?t=1#f', 'http://h/a?t=1', 'http://h/a#f', 'http://h/users/@me', 'https://a@b@h?x=@y', 'http://[::1]:8080/p?'];
      for (const url of urls) {
        for (const keepQuery of [false, true]) {
          const parts = spanUrlOf(url, keepQuery);
          assert.deepEqual(parts, { url: urlForSpan(url, keepQuery), withQuery: urlForSpan(url, true), redacted: redactedParts(url, keepQuery) }, `${url} ${keepQuery}`);
        }
      }
      assert.equal(spanUrlOf('http://h/a', false).url, 'http://h/a');
    });
    it('takes them out of a message, and the credentials of any URL in it', () => {
      const parts = redactedParts('http://user:s3cret@nohost/x?token=abc', false);
      assert.equal(redactText('getaddrinfo ENOTFOUND user:s3cret@nohost', parts), 'getaddrinfo ENOTFOUND nohost');
      assert.equal(redactText('GET /x?token=abc failed', parts), 'GET /x failed');
      assert.equal(redactText('redirected to https://a:b@other.example/p and http://c@d/', []), 'redirected to https://other.example/p and http://d/');
      assert.equal(redactText('mail me at a@b.c', []), 'mail me at a@b.c');
      assert.equal(redactText('see http://h/users/@me', []), 'see http://h/users/@me');
    });
  });
});
