// An imitation of the model hubs on 127.0.0.1 for the pull tests, speaking just enough of each
// protocol the way the real services do:
//   Hugging Face  HEAD/GET /{owner}/{repo}/resolve/main/{file}: 302 to /cdn/{sha256} with
//                 X-Linked-Size, X-Linked-Etag "<sha256>" and ETag (the LFS headers);
//                 GET /api/models/{owner}/{repo}: {"id", "siblings": [{"rfilename"}]}
//   Ollama        GET /v2/{ns}/{model}/manifests/{tag} (Docker-Content-Digest), and
//                 GET /v2/{ns}/{model}/blobs/sha256:{hex}: 307 to /cdn/{sha256}
//   plain files   GET /files/{name}
//   content       GET /cdn/{sha256} and /files/{name} with Range (206 + Content-Range)
// Every request is logged ({method, url, range}); a blob can be cut once after N bytes (the
// socket destroyed mid-body), served slowly, or advertised with a wrong digest.
import http from 'node:http';
import https from 'node:https';
import { createHash } from 'node:crypto';

export const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

export async function startHub({ tls = null } = {}) {
  const blobs = new Map();    // sha256 -> {data, cutAfter, slow}
  const hf = new Map();       // "owner/repo" -> Map(file -> {sha, advertised})
  const extraSiblings = new Map();  // "owner/repo" -> [names listed but not served]
  const ollama = new Map();   // "ns/model:tag" -> sha
  const files = new Map();    // name -> sha
  const log = [];

  const addBlob = (data, opts = {}) => {
    const sha = sha256(data);
    blobs.set(sha, { data, cutAfter: opts.cutAfter ?? null, slow: opts.slow ?? null });
    return sha;
  };

  const hub = {
    log,
    // A Hugging Face repo file; `advertisedSha` lies about the digest when given.
    addHfFile(repo, file, data, opts = {}) {
      const sha = addBlob(data, opts);
      if (!hf.has(repo)) hf.set(repo, new Map());
      hf.get(repo).set(file, { sha, advertised: opts.advertisedSha ?? sha });
      return sha;
    },
    addHfSibling(repo, name) {
      if (!extraSiblings.has(repo)) extraSiblings.set(repo, []);
      extraSiblings.get(repo).push(name);
    },
    addOllama(name, tag, data, opts = {}) {
      const sha = addBlob(data, opts);
      ollama.set(`${name.includes('/') ? name : 'library/' + name}:${tag}`, sha);
      return sha;
    },
    addFile(name, data, opts = {}) {
      const sha = addBlob(data, opts);
      files.set(name, sha);
      return sha;
    },
    requests(pred) { return log.filter(pred); },
  };

  const sendBlob = async (req, res, sha) => {
    const blob = blobs.get(sha);
    if (!blob) { res.writeHead(404); res.end('no such blob'); return; }
    const { data } = blob;
    let start = 0, status = 200;
    const headers = { 'Content-Type': 'application/octet-stream', 'Accept-Ranges': 'bytes', ETag: `"${sha}"` };
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (m) {
      start = Number(m[1]);
      if (start >= data.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${data.length}` });
        res.end();
        return;
      }
      status = 206;
      headers['Content-Range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
    }
    headers['Content-Length'] = String(data.length - start);
    res.writeHead(status, headers);
    if (req.method === 'HEAD') { res.end(); return; }
    const body = data.subarray(start);
    if (blob.cutAfter !== null && start === 0) {
      // Once: send part of the body, then drop the connection as a broken network would.
      const n = blob.cutAfter;
      blob.cutAfter = null;
      res.write(body.subarray(0, n), () => setTimeout(() => req.socket.destroy(), 50));
      return;
    }
    if (blob.slow) {
      const { chunk, delayMs } = blob.slow;
      for (let off = 0; off < body.length; off += chunk) {
        if (res.destroyed) return;
        res.write(body.subarray(off, off + chunk));
        await new Promise((r) => setTimeout(r, delayMs));
      }
      res.end();
      return;
    }
    res.end(body);
  };

  const handler = async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const path = decodeURIComponent(url.pathname);
    log.push({ method: req.method, url: req.url, range: req.headers.range ?? null,
               authorization: req.headers.authorization ?? null, accept: req.headers.accept ?? null });
    let m;
    if ((m = /^\/cdn\/([0-9a-f]{64})$/.exec(path))) return sendBlob(req, res, m[1]);
    if ((m = /^\/files\/(.+)$/.exec(path))) {
      if (!files.has(m[1])) { res.writeHead(404); res.end('not found'); return; }
      return sendBlob(req, res, files.get(m[1]));
    }
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)$/.exec(path)) && req.method === 'GET') {
      const repo = hf.get(m[1]);
      if (!repo) { res.writeHead(404, { 'Content-Type': 'application/json' }); res.end('{"error":"Repository not found"}'); return; }
      const siblings = [...repo.keys(), ...(extraSiblings.get(m[1]) ?? []), 'README.md', 'config.json']
        .map((rfilename) => ({ rfilename }));
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ id: m[1], modelId: m[1], sha: 'f'.repeat(40), siblings }));
      return;
    }
    if ((m = /^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/.exec(path))) {
      const entry = hf.get(m[1])?.get(m[2]);
      if (!entry) {
        res.writeHead(404, { 'X-Error-Code': 'EntryNotFound' });
        res.end('Entry not found');
        return;
      }
      const blob = blobs.get(entry.sha);
      // The hub's own reply carries the LFS metadata; the content is on the "CDN".
      res.writeHead(302, {
        Location: `/cdn/${entry.sha}`,
        'X-Linked-Size': String(blob.data.length),
        'X-Linked-Etag': `"${entry.advertised}"`,
        ETag: `"${entry.advertised}"`,
        'X-Repo-Commit': 'f'.repeat(40),
        'Content-Length': '0',
      });
      res.end();
      return;
    }
    if ((m = /^\/v2\/([^/]+\/[^/]+)\/manifests\/([^/]+)$/.exec(path))) {
      const sha = ollama.get(`${m[1]}:${m[2]}`);
      if (!sha) { res.writeHead(404, { 'Content-Type': 'application/json' }); res.end('{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'); return; }
      const config = Buffer.from('{"model_format":"gguf","model_family":"qwen2"}');
      const body = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: `sha256:${sha256(config)}`, size: config.length },
        layers: [
          { mediaType: 'application/vnd.ollama.image.model', digest: `sha256:${sha}`, size: blobs.get(sha).data.length },
          { mediaType: 'application/vnd.ollama.image.template', digest: `sha256:${'1'.repeat(64)}`, size: 10 },
        ],
      }));
      res.writeHead(200, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json',
                           'Docker-Content-Digest': `sha256:${sha256(body)}`, 'Content-Length': String(body.length) });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if ((m = /^\/v2\/([^/]+\/[^/]+)\/blobs\/sha256:([0-9a-f]{64})$/.exec(path))) {
      if (!blobs.has(m[2])) { res.writeHead(404); res.end(); return; }
      res.writeHead(307, { Location: `/cdn/${m[2]}`, 'Content-Length': '0' });
      res.end();
      return;
    }
    res.writeHead(404);
    res.end('not found');
  };

  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  hub.url = `${tls ? 'https' : 'http'}://127.0.0.1:${server.address().port}`;
  hub.close = () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(resolve); });
  return hub;
}
