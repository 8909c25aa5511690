/** Helpers for tests that call the tRPC router in process. */
import assert from "node:assert/strict";
import { TRPCError } from "@trpc/server";

/** Awaits `p`, which must fail with a TRPCError, and returns that error. */
export async function trpcError(p: Promise<unknown>): Promise<TRPCError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof TRPCError, String(err));
    return err;
  }
  assert.fail("expected a TRPCError");
}
