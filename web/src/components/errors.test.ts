import { describe, expect, it } from "vitest";

import { ApiError } from "../api/client";
import { errorMessage, fieldMessage, formErrors } from "./errors";

function problem(status: number, code: string, detail: string, field: string | null = null) {
  return new ApiError(status, { type: `urn:dockyard:problem:${code}`, title: code, status, detail, code, field }, "");
}

describe("formErrors", () => {
  const fields = ["name", "email", "new_password", "token"];

  it("puts a validation error under its field, without the field prefix", () => {
    const errors = formErrors(problem(422, "invalid_email", "email: must be an e-mail address such as ada@example.com", "email"), { fields });
    expect(errors).toEqual({ fields: { email: "Must be an e-mail address such as ada@example.com" }, form: null });
  });

  it("maps the server's field names through aliases", () => {
    const errors = formErrors(problem(422, "weak_password", "password: must be at least 10 characters", "password"), {
      fields,
      aliases: { password: "new_password" },
    });
    expect(errors.fields.new_password).toBe("Must be at least 10 characters");
  });

  it("maps codes to fields when the problem names none", () => {
    const errors = formErrors(problem(403, "invalid_setup_token", "the setup token is wrong or was already used"), {
      fields,
      codes: { invalid_setup_token: "token" },
    });
    expect(errors).toEqual({ fields: { token: "The setup token is wrong or was already used" }, form: null });
  });

  it("falls back to a form error for unknown fields and other failures", () => {
    expect(formErrors(problem(422, "x", "slug: bad", "slug"), { fields }).form).toBe("Slug: bad");
    expect(formErrors(new ApiError(0, null, "network error: boom"), { fields }).form).toMatch(/Could not reach/);
    expect(formErrors(new Error("plain"), { fields }).form).toBe("Plain");
  });
});

describe("messages", () => {
  it("strips only a matching prefix", () => {
    expect(fieldMessage("name: too long", "name")).toBe("Too long");
    expect(fieldMessage("name: too long", "email")).toBe("Name: too long");
  });

  it("explains a 5xx without a problem document", () => {
    expect(errorMessage(new ApiError(502, null, "Bad Gateway"))).toMatch(/server failed \(502\)/);
  });
});
