// Where things live under the image root, in one place:
//   blobs/sha256/<hex>        verified content (manifests, configs, layer archives), by digest
//   ingest/<hex>.partial      a blob being downloaded; renamed into blobs/ once verified
//   layers/<hex>/             a layer unpacked for overlayfs, named by its blob digest
//   layers/.tmp-<hex>         a layer being unpacked; renamed into place once complete
//   images/<hex>.json         one image record per reference, named by sha256 of the reference

import { createHash } from 'node:crypto';
import { join } from 'node:path';

import { digestHex, type Digest } from '../../common/image/digest.js';

export class StoreLayout {
  readonly root: string;
  constructor(root: string) {
    this.root = root;
  }
  get blobsDir(): string {
    return join(this.root, 'blobs', 'sha256');
  }
  get ingestDir(): string {
    return join(this.root, 'ingest');
  }
  get layersDir(): string {
    return join(this.root, 'layers');
  }
  get imagesDir(): string {
    return join(this.root, 'images');
  }
  blob(d: Digest): string {
    return join(this.blobsDir, digestHex(d));
  }
  partial(d: Digest): string {
    return join(this.ingestDir, `${digestHex(d)}.partial`);
  }
  layer(d: Digest): string {
    return join(this.layersDir, digestHex(d));
  }
  layerTmp(d: Digest): string {
    return join(this.layersDir, `.tmp-${digestHex(d)}`);
  }
  image(canonicalRef: string): string {
    return join(this.imagesDir, `${createHash('sha256').update(canonicalRef).digest('hex')}.json`);
  }
}
