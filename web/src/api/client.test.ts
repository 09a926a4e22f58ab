import { describe, expect, it } from "vitest";

import { ApiError, encodePath, ensureOk, fileUrl } from "./client";

describe("file URLs", () => {
  it("encodes each segment and keeps the slashes", () => {
    expect(encodePath("src/a b/#x.ts")).toBe("src/a%20b/%23x.ts");
    expect(fileUrl("01abc", "/dir//file.txt")).toBe("/api/v1/projects/01abc/files/dir/file.txt");
  });
});

describe("ensureOk", () => {
  it("turns a problem document into an ApiError with its code and field", async () => {
    const body = JSON.stringify({ type: "urn:dockyard:problem:etag_mismatch", title: "Precondition Failed", status: 412, detail: "the file changed", code: "etag_mismatch", field: null });
    const response = new Response(body, { status: 412, headers: { "content-type": "application/problem+json" } });
    const error = await ensureOk(response).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe("etag_mismatch");
    expect((error as ApiError).status).toBe(412);
    expect((error as ApiError).message).toBe("the file changed");
  });

  it("gives a status-derived code when the body is not a problem", async () => {
    const error = await ensureOk(new Response("nope", { status: 502 })).catch((caught: unknown) => caught);
    expect((error as ApiError).code).toBe("http_502");
  });
});
