// auth enable|disable|status, user *, role *.
import type * as t from '../../client';
import { prefixRangeEnd } from '../range-end';
import type { Printer } from '../printers';
import { Context, Exit, ExitError, errorText } from '../runtime';
import { goQuote } from '../go-format';

type Msg = t.Message;

async function call<R = Msg>(ctx: Context, method: string, req: unknown): Promise<R> {
  try {
    return await ctx.client().auth<R>(method, req, ctx.deadline());
  } catch (e) {
    throw new ExitError(Exit.error, errorText(e));
  }
}

/** Prints an auth response: its simple text, or the response in the other formats. */
function show(printer: Printer, simple: () => void, method: string, resp: Msg, fields?: () => void): void {
  printer.auth(fields === undefined ? { method, resp, simple } : { method, resp, simple, fields });
}

function noArgs(ctx: Context, msg: string): void {
  if (ctx.args.length !== 0) throw new ExitError(Exit.badArgs, msg);
}

export async function authEnableCommand(ctx: Context): Promise<void> {
  noArgs(ctx, 'auth enable command does not accept any arguments');
  const client = ctx.client();
  const deadline = ctx.deadline();
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await client.auth('AuthEnable', {}, deadline);
      ctx.println('Authentication Enabled');
      return;
    } catch (e) {
      if (errorText(e) !== 'etcdserver: root user does not have root role' && errorText(e) !== 'etcdserver: root user does not exist') {
        throw new ExitError(Exit.error, errorText(e));
      }
      if (errorText(e) === 'etcdserver: root user does not exist') throw new ExitError(Exit.error, errorText(e));
      try {
        await client.auth('RoleAdd', { name: 'root' }, deadline);
        await client.auth('UserGrantRole', { user: 'root', role: 'root' }, deadline);
      } catch (e2) {
        throw new ExitError(Exit.error, errorText(e2));
      }
    }
  }
}

export async function authDisableCommand(ctx: Context): Promise<void> {
  noArgs(ctx, 'auth disable command does not accept any arguments');
  await call(ctx, 'AuthDisable', {});
  ctx.println('Authentication Disabled');
}

export async function authStatusCommand(ctx: Context): Promise<void> {
  noArgs(ctx, 'auth status command does not accept any arguments');
  const printer = ctx.printer();
  const r = await call<t.AuthStatusResponse>(ctx, 'AuthStatus', {});
  show(printer, () => {
    ctx.println(`Authentication Status: ${r.enabled ? 'true' : 'false'}`);
    ctx.println(`AuthRevision: ${r.authRevision}`);
  }, 'AuthStatus', r as unknown as Msg, () => {
    ctx.println(`"Enabled" : ${r.enabled ? 'true' : 'false'}`);
  });
}

// --- user

function readPassword(ctx: Context, user: string, interactive: boolean): string {
  const input = ctx.io.stdin().toString('utf8');
  if (!interactive) return input.trim().split(/\s+/)[0] ?? '';
  // etcdctl reads the terminal twice (password and confirmation); from a pipe we take two lines.
  ctx.io.err(`Password of ${user}: `);
  const lines = input.split('\n');
  const first = lines[0] ?? '';
  ctx.io.err(`Type password of ${user} again for confirmation: `);
  const second = lines[1] ?? first;
  if (first !== second) throw new ExitError(Exit.badArgs, 'given passwords are different');
  return first;
}

export async function userAddCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'user add command requires user name as its argument');
  const arg = ctx.args[0] ?? '';
  let user = arg;
  let password = '';
  let noPassword = false;
  const fromFlag = ctx.str('new-user-password');
  if (fromFlag !== '') password = fromFlag;
  else {
    const colon = arg.indexOf(':');
    if (colon < 0) {
      if (ctx.bool('no-password')) noPassword = true;
      else password = readPassword(ctx, arg, ctx.bool('interactive'));
    } else {
      user = arg.slice(0, colon);
      password = arg.slice(colon + 1);
      if (user.length === 0) throw new ExitError(Exit.badArgs, 'empty user name is not allowed');
    }
  }
  const printer = ctx.printer();
  const r = await call(ctx, 'UserAdd', { name: user, password, options: { no_password: noPassword } });
  show(printer, () => ctx.println(`User ${user} created`), 'AuthUserAdd', r);
}

export async function userDeleteCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'user delete command requires user name as its argument');
  const name = ctx.args[0] ?? '';
  const printer = ctx.printer();
  const r = await call(ctx, 'UserDelete', { name });
  show(printer, () => ctx.println(`User ${name} deleted`), 'AuthUserDelete', r);
}

export async function userGetCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'user get command requires user name as its argument');
  const name = ctx.args[0] ?? '';
  const printer = ctx.printer();
  const r = await call<t.AuthUserGetResponse>(ctx, 'UserGet', { name });
  if (ctx.bool('detail')) {
    ctx.println(`User: ${name}`);
    for (const role of r.roles) {
      ctx.println('');
      const rr = await call<t.AuthRoleGetResponse>(ctx, 'RoleGet', { role });
      printer.roleGet(role, rr);
    }
    return;
  }
  printer.userGet(name, r);
}

export async function userListCommand(ctx: Context): Promise<void> {
  noArgs(ctx, 'user list command requires no arguments');
  const printer = ctx.printer();
  const r = await call<t.AuthListResponse>(ctx, 'UserList', {});
  const users = r.users ?? [];
  show(printer, () => {
    for (const u of users) ctx.println(u);
  }, 'AuthUserList', r as unknown as Msg, () => ctx.println(`"Users" :${users.map((u) => ` ${goQuote(u)}`).join('')}`));
}

export async function userPasswdCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'user passwd command requires user name as its argument');
  const name = ctx.args[0] ?? '';
  const password = readPassword(ctx, name, ctx.bool('interactive'));
  const printer = ctx.printer();
  const r = await call(ctx, 'UserChangePassword', { name, password });
  show(printer, () => ctx.println('Password updated'), 'AuthUserChangePassword', r);
}

export async function userGrantRoleCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 2) throw new ExitError(Exit.badArgs, 'user grant command requires user name and role name as its argument');
  const [user, role] = [ctx.args[0] ?? '', ctx.args[1] ?? ''];
  const printer = ctx.printer();
  const r = await call(ctx, 'UserGrantRole', { user, role });
  show(printer, () => ctx.println(`Role ${role} is granted to user ${user}`), 'AuthUserGrantRole', r);
}

export async function userRevokeRoleCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 2) throw new ExitError(Exit.badArgs, 'user revoke-role requires user name and role name as its argument');
  const [name, role] = [ctx.args[0] ?? '', ctx.args[1] ?? ''];
  const printer = ctx.printer();
  const r = await call(ctx, 'UserRevokeRole', { name, role });
  show(printer, () => ctx.println(`Role ${role} is revoked from user ${name}`), 'AuthUserRevokeRole', r);
}

// --- role

export async function roleAddCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'role add command requires role name as its argument');
  const name = ctx.args[0] ?? '';
  const printer = ctx.printer();
  const r = await call(ctx, 'RoleAdd', { name });
  show(printer, () => ctx.println(`Role ${name} created`), 'AuthRoleAdd', r);
}

export async function roleDeleteCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'role delete command requires role name as its argument');
  const role = ctx.args[0] ?? '';
  const printer = ctx.printer();
  const r = await call(ctx, 'RoleDelete', { role });
  show(printer, () => ctx.println(`Role ${role} deleted`), 'AuthRoleDelete', r);
}

export async function roleGetCommand(ctx: Context): Promise<void> {
  if (ctx.args.length !== 1) throw new ExitError(Exit.badArgs, 'role get command requires role name as its argument');
  const role = ctx.args[0] ?? '';
  const printer = ctx.printer();
  const r = await call<t.AuthRoleGetResponse>(ctx, 'RoleGet', { role });
  printer.roleGet(role, r);
}

export async function roleListCommand(ctx: Context): Promise<void> {
  noArgs(ctx, 'role list command requires no arguments');
  const printer = ctx.printer();
  const r = await call<t.AuthListResponse>(ctx, 'RoleList', {});
  const roles = r.roles ?? [];
  show(printer, () => {
    for (const x of roles) ctx.println(x);
  }, 'AuthRoleList', r as unknown as Msg, () => ctx.println(`"Roles" :${roles.map((x) => ` ${goQuote(x)}`).join('')}`));
}

function permRange(ctx: Context, args: string[]): { key: string; rangeEnd: string } {
  const prefix = ctx.bool('prefix');
  const fromKey = ctx.bool('from-key');
  const key = args[0] ?? '';
  if (key.length === 0) {
    if (prefix && fromKey) throw new ExitError(Exit.badArgs, '--from-key and --prefix flags are mutually exclusive');
    return { key: '\x00', rangeEnd: prefix || fromKey ? '\x00' : '' };
  }
  if (args.length === 1) {
    if (prefix) {
      if (fromKey) throw new ExitError(Exit.badArgs, '--from-key and --prefix flags are mutually exclusive');
      return { key, rangeEnd: prefixRangeEnd(Buffer.from(key, 'utf8')).toString('latin1') };
    }
    return { key, rangeEnd: fromKey ? '\x00' : '' };
  }
  if (prefix) throw new ExitError(Exit.badArgs, 'unexpected endkey argument with --prefix flag');
  if (fromKey) throw new ExitError(Exit.badArgs, 'unexpected endkey argument with --from-key flag');
  return { key, rangeEnd: args[1] ?? '' };
}

export async function roleGrantPermissionCommand(ctx: Context): Promise<void> {
  if (ctx.args.length < 3) throw new ExitError(Exit.badArgs, 'role grant command requires role name, permission type, and key [endkey] as its argument');
  const [role, typeArg] = [ctx.args[0] ?? '', ctx.args[1] ?? ''];
  const permType = ['READ', 'WRITE', 'READWRITE'].indexOf(typeArg.toUpperCase());
  if (permType < 0) throw new ExitError(Exit.badArgs, `invalid permission type: ${typeArg}`);
  const { key, rangeEnd } = permRange(ctx, ctx.args.slice(2));
  const printer = ctx.printer();
  const r = await call(ctx, 'RoleGrantPermission', { name: role, perm: { permType, key: Buffer.from(key, 'latin1'), range_end: Buffer.from(rangeEnd, 'latin1') } });
  show(printer, () => ctx.println(`Role ${role} updated`), 'AuthRoleGrantPermission', r);
}

export async function roleRevokePermissionCommand(ctx: Context): Promise<void> {
  if (ctx.args.length < 2) throw new ExitError(Exit.badArgs, 'role revoke-permission command requires role name and key [endkey] as its argument');
  const role = ctx.args[0] ?? '';
  const { key, rangeEnd } = permRange(ctx, ctx.args.slice(1));
  const printer = ctx.printer();
  const r = await call(ctx, 'RoleRevokePermission', { role, key: Buffer.from(key, 'latin1'), range_end: Buffer.from(rangeEnd, 'latin1') });
  const shownKey = ctx.args[1] ?? '';
  show(printer, () => {
    if (rangeEnd.length === 0) ctx.println(`Permission of key ${shownKey} is revoked from role ${role}`);
    else if (rangeEnd !== '\x00') ctx.out(Buffer.from(`Permission of range [${shownKey}, ${rangeEnd}) is revoked from role ${role}\n`, 'latin1'));
    else ctx.println(`Permission of range [${shownKey}, <open ended> is revoked from role ${role}`);
  }, 'AuthRoleRevokePermission', r);
}
