const dark = page.theme === "dark";
const c = {
  bg: page.background ?? (dark ? "#0b1020" : "#ffffff"),
  surface: dark ? "#141b2f" : "#f6f7fb",
  text: dark ? "#e8ebf3" : "#0f172a",
  muted: dark ? "#9aa4b8" : "#4b5563",
  border: dark ? "#263150" : "#e5e7eb",
  accent: page.accent,
  deep: `color-mix(in srgb, ${page.accent} 62%, #000)`,
  soft: `color-mix(in srgb, ${page.accent} 14%, ${dark ? "#0b1020" : "#ffffff"})`,
  headline: page.headline_color ?? (dark ? "#ffffff" : "#0f172a"),
  band: page.band_color ?? page.accent,
};
const sans = "Inter, system-ui, -apple-system, 'Segoe UI', sans-serif";
const serif = "Georgia, 'Iowan Old Style', 'Times New Roman', serif";
// Sections every layout shares take the layout's type and alignment.
const display = page.layout === "editorial" ? serif : sans;
const align = page.layout === "centered" ? "center" : "left";
const heading = { fontFamily: display, fontSize: 30, margin: "0 0 28px", textAlign: align,
  fontWeight: page.layout === "editorial" ? 400 : 750 } as const;
const wrap = { maxWidth: 1120, margin: "0 auto", padding: "0 clamp(20px, 5vw, 48px)" };
const button = {
  background: c.accent,
  color: "#fff",
  border: 0,
  borderRadius: 10,
  padding: "14px 22px",
  fontSize: 16,
  fontWeight: 650,
  cursor: "pointer",
  textDecoration: "none",
  display: "inline-block",
};
const ghost = { ...button, background: "transparent", color: c.text, boxShadow: `inset 0 0 0 1.5px ${c.border}` };

function Header() {
  const onColour = page.header_color != null;
  return (
    <header data-testid="demo-header" style={{ background: page.header_color ?? "transparent",
      color: onColour ? "#fff" : c.text, borderBottom: onColour ? 0 : `1px solid ${c.border}` }}>
      <div style={{ ...wrap, display: "flex", alignItems: "center", gap: "8px 16px", minHeight: 64,
        paddingTop: 8, paddingBottom: 8,
        flexWrap: "wrap" }}>
        <strong style={{ display: "flex", alignItems: "center", gap: 10, fontSize: 18,
          whiteSpace: "nowrap" }}>
          <span style={{ width: 22, height: 22, borderRadius: 6, display: "inline-block",
            background: onColour ? "#fff" : c.accent }} />
          {page.brand}
        </strong>
        <nav style={{ display: "flex", gap: 16, marginLeft: "auto", fontSize: 15, opacity: 0.85,
          whiteSpace: "nowrap" }}>
          {page.sections.includes("features") && <a href="#features" style={{ color: "inherit" }}>Features</a>}
          {page.sections.includes("pricing") && <a href="#pricing" style={{ color: "inherit" }}>Pricing</a>}
          <a href="#join" style={{ color: "inherit" }}>Contact</a>
        </nav>
      </div>
    </header>
  );
}

function Join({ light }: { light?: boolean }) {
  const [joined, setJoined] = useState(false);
  if (joined) {
    return <p data-testid="demo-joined" style={{ fontWeight: 650 }}>Thanks! You're on the list.</p>;
  }
  return (
    <form onSubmit={(e) => { e.preventDefault(); setJoined(true); }}
      style={{ display: "flex", gap: 10, flexWrap: "wrap" }}>
      <input type="email" placeholder="you@example.com" aria-label="Email"
        style={{ flex: "1 1 220px", padding: "13px 14px", borderRadius: 10, fontSize: 16,
          border: light ? "0" : `1px solid ${c.border}`, background: light ? "#ffffffee" : c.bg, color: "#111" }} />
      <button type="submit" data-testid="demo-band-cta"
        style={{ ...button, background: light ? "#111827" : c.accent }}>{page.band_cta}</button>
    </form>
  );
}

function Testimonials() {
  return (
    <section data-testid="demo-testimonials" style={{ ...wrap, padding: "64px clamp(20px, 5vw, 48px)" }}>
      <h2 style={heading}>What people say</h2>
      <div style={{ display: "grid", gap: 20, gridTemplateColumns: "repeat(auto-fit, minmax(240px, 1fr))" }}>
        {(page.testimonials ?? []).map((t) => (
          <figure key={t.by} style={{ margin: 0, padding: 24, borderRadius: 16, background: c.surface }}>
            <blockquote style={{ margin: 0, fontSize: 17, lineHeight: 1.5 }}>“{t.quote}”</blockquote>
            <figcaption style={{ marginTop: 14, color: c.muted }}>{t.by}</figcaption>
          </figure>
        ))}
      </div>
    </section>
  );
}

function Pricing() {
  return (
    <section id="pricing" data-testid="demo-pricing" style={{ ...wrap, padding: "64px clamp(20px, 5vw, 48px)" }}>
      <h2 style={heading}>Pricing</h2>
      <div style={{ display: "grid", gap: 20, gridTemplateColumns: "repeat(auto-fit, minmax(220px, 1fr))" }}>
        {(page.pricing ?? []).map((p, i) => (
          <div key={p.name} style={{ padding: 28, borderRadius: 16, border: `1.5px solid ${i === 1 ? c.accent : c.border}` }}>
            <h3 style={{ margin: 0 }}>{p.name}</h3>
            <p style={{ fontSize: 36, fontWeight: 800, margin: "12px 0" }}>{p.price}<span style={{ fontSize: 15, color: c.muted }}> / month</span></p>
            <p style={{ color: c.muted, margin: 0 }}>{p.detail}</p>
          </div>
        ))}
      </div>
    </section>
  );
}

function Faq() {
  return (
    <section data-testid="demo-faq" style={{ ...wrap, padding: "64px clamp(20px, 5vw, 48px)", maxWidth: 820 }}>
      <h2 style={heading}>Questions</h2>
      {(page.faq ?? []).map((f) => (
        <details key={f.q} style={{ borderTop: `1px solid ${c.border}`, padding: "16px 0" }}>
          <summary style={{ fontWeight: 650, cursor: "pointer" }}>{f.q}</summary>
          <p style={{ color: c.muted, margin: "10px 0 0" }}>{f.a}</p>
        </details>
      ))}
    </section>
  );
}
