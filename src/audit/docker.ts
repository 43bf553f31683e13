/**
 * dockerode's Image (inspect, get = `docker save`) on dockerode's own modem, without dockerode's
 * index: that also loads @grpc/grpc-js and protobufjs (100-odd files, ~7 MB resident) for BuildKit
 * sessions, which a read-only audit never opens.
 */
import { createRequire } from 'node:module';
import type Dockerode from 'dockerode';

export type DockerImage = Pick<Dockerode.Image, 'inspect' | 'get'>;
export interface DockerImages {
  getImage(name: string): DockerImage;
}

type ModemClass = new (opts: { socketPath: string }) => { Promise: PromiseConstructor };
type ImageClass = new (modem: unknown, name: string) => DockerImage;

export function dockerImages(socketPath: string): DockerImages {
  // resolved from dockerode's own entry point: its docker-modem and lib/image.js, whatever the install layout
  const fromDockerode = createRequire(createRequire(import.meta.url).resolve('dockerode'));
  const Modem = fromDockerode('docker-modem') as ModemClass;
  const Image = fromDockerode('./image') as ImageClass;
  const modem = new Modem({ socketPath });
  modem.Promise = Promise; // what new Docker() sets
  return { getImage: (name) => new Image(modem, name) };
}
