import { create } from 'webgpu';
const gpu = create([]);
console.error('created');
const a = await gpu.requestAdapter();
console.error('adapter', a?.info?.device, a?.info?.isFallbackAdapter);
const d = await a.requestDevice();
console.error('device');
d.destroy();
