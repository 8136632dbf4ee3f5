// Types of `webgpu-maxsim/maxsim.wasm`: the CPU kernel, precompiled, for runtimes that refuse to compile
// WebAssembly from bytes (Cloudflare Workers, whose bundler turns a .wasm import into a WebAssembly.Module).
//
//   import wasmModule from 'webgpu-maxsim/maxsim.wasm';
//   const scorer = await createScorer({ backend: 'cpu', cpu: { wasmModule } });
declare const maxsimWasm: WebAssembly.Module;
export default maxsimWasm;
