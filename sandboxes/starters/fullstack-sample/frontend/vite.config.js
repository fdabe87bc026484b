import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The dashboard serves previews on their own subdomain (<id>.preview.localhost or a wildcard
// domain) through its proxy, so the dev server must accept those Host headers.
export default defineConfig({
  plugins: [react()],
  server: {
    host: "0.0.0.0",
    allowedHosts: [".localhost", ".preview.localhost", ".e2b.app", ".e2b.dev"],
  },
});
