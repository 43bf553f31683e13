import { hostname, userInfo } from 'node:os';

/**
 * Who runs this, for the host lock and the journal: CUTOVER_OPERATOR if set, else the real person
 * behind sudo (SUDO_USER), else the login ($USER, then the OS account), else this machine's name.
 */
export function operatorName(env: NodeJS.ProcessEnv = process.env): string {
  const account = () => {
    try {
      return userInfo().username;
    } catch {
      return undefined;
    }
  };
  return env.CUTOVER_OPERATOR || env.SUDO_USER || env.USER || account() || hostname();
}
