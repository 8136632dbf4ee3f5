#!/usr/bin/env node
// The webgpu-maxsim command, with Dawn: the library's CLI (webgpu-maxsim/cli), which finds the webgpu package
// this package depends on.
import 'webgpu-maxsim/cli';
