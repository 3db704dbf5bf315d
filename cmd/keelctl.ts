// keelctl: the etcdctl-compatible CLI. The only place that reads argv and env.
import { main } from '../src/cli';

void main(process.argv.slice(2));
