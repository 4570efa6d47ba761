// Interop client: the official TypeScript SDK (@modelcontextprotocol/sdk, pinned in
// scripts/node/package.json) drives the real mcphub binary over streamable HTTP or stdio.
// cmd/mcphub/interop_test.go runs it with Node 22 and NODE_PATH=.tools/node/node_modules and
// checks the JSON report it prints on stdout (diagnostics go to stderr).
//
//   node interop_ts_client.cjs http URL
//   node interop_ts_client.cjs stdio BINARY ARG...
"use strict";

const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { StdioClientTransport } = require("@modelcontextprotocol/sdk/client/stdio.js");
const { CreateMessageRequestSchema, ElicitRequestSchema } = require("@modelcontextprotocol/sdk/types.js");

function text(result) {
  return (result.content || []).filter((c) => c.type === "text").map((c) => c.text).join("");
}

async function main() {
  const [mode, target, ...rest] = process.argv.slice(2);
  const transport =
    mode === "http"
      ? new StreamableHTTPClientTransport(new URL(target))
      : new StdioClientTransport({ command: target, args: rest, stderr: "inherit" });
  const client = new Client(
    { name: "mcphub-interop-ts", version: "1.0.0" },
    { capabilities: { sampling: {}, elicitation: {} } },
  );
  // The fixture's sampling and elicitation tools reach this client as server requests (mcp-go's
  // bridge for clients before 2026-07-28): answer them as a model and a user would.
  client.setRequestHandler(CreateMessageRequestSchema, async () => ({
    role: "assistant",
    content: { type: "text", text: "Paris" },
    model: "interop-model",
    stopReason: "endTurn",
  }));
  client.setRequestHandler(ElicitRequestSchema, async () => ({
    action: "accept",
    content: { username: "ada", email: "ada@example.org" },
  }));

  const report = {};
  await client.connect(transport);
  report.server = client.getServerVersion();
  report.capabilities = client.getServerCapabilities();

  const tools = await client.listTools();
  report.tools = tools.tools.map((t) => t.name);
  const echo = tools.tools.find((t) => t.name === "testkit_echo");
  report.echoAnnotations = echo ? echo.annotations : null;

  const echoed = await client.callTool({ name: "testkit_echo", arguments: { text: "héllo from TypeScript" } });
  report.echo = { text: text(echoed), structured: echoed.structuredContent, isError: !!echoed.isError };

  const bad = await client.callTool({ name: "testkit_echo", arguments: { text: "x", unknown: 1 } });
  report.badArgs = { isError: !!bad.isError, text: text(bad) };

  const progress = [];
  const slow = await client.callTool(
    { name: "test_tool_with_progress", arguments: {} },
    undefined,
    { onprogress: (p) => progress.push(p.progress) },
  );
  report.progress = { values: progress, isError: !!slow.isError };

  const sampled = await client.callTool({ name: "test_sampling", arguments: { prompt: "Capital of France?" } });
  report.sampling = text(sampled);
  const elicited = await client.callTool({ name: "test_elicitation", arguments: { message: "Who are you?" } });
  report.elicitation = text(elicited);

  const resources = await client.listResources();
  report.resources = resources.resources.map((r) => r.uri);
  const read = await client.readResource({ uri: "test://template/42/data" });
  report.templateRead = read.contents[0].text;
  try {
    await client.readResource({ uri: "test://no-such-resource" });
    report.notFound = null;
  } catch (e) {
    report.notFound = { code: e.code, message: e.message };
  }

  const prompts = await client.listPrompts();
  report.prompts = prompts.prompts.map((p) => p.name);
  const prompt = await client.getPrompt({ name: "test_prompt_with_arguments", arguments: { arg1: "a", arg2: "b" } });
  report.prompt = prompt.messages[0].content.text;
  const completion = await client.complete({
    ref: { type: "ref/prompt", name: "test_prompt_with_arguments" },
    argument: { name: "arg1", value: "pa" },
  });
  report.completion = completion.completion.values;

  await client.close();
  process.stdout.write(JSON.stringify(report) + "\n");
}

main().catch((e) => {
  process.stderr.write("interop client failed: " + (e && e.stack ? e.stack : e) + "\n");
  process.exit(1);
});
