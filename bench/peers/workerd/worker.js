// The workerd peer's echo worker: answers each request with its own body.
export default {
  async fetch(request) {
    return new Response(await request.arrayBuffer(), { headers: { "Content-Type": "application/json" } });
  },
};
