// The viewer's rating of one movie, wired to the session: rate, change, remove, or a sign-in prompt.
import { stars } from "./components.js";
import { h, mount } from "./dom.js";
import { showBanner } from "./feedback.js";
import { session } from "./session.js";
import { openSignIn } from "./sign-in.js";

/** A control that keeps itself in step with the viewer's rating of `movie`. */
export function ratingControl(/** @type {{id: string, title: string}} */ movie) {
  const holder = h("div", { class: "rating-control" });
  const render = () => {
    if (!session.signedIn) {
      mount(holder, h("button", { type: "button", class: "link", onClick: openSignIn, text: "Sign in to rate" }));
      return;
    }
    const save = async (/** @type {() => Promise<void>} */ write) => {
      holder.classList.add("saving");
      try {
        await write();
      } catch (error) {
        showBanner(error);
      } finally {
        holder.classList.remove("saving");
        render();
      }
    };
    mount(
      holder,
      stars({
        value: session.ratingOf(movie.id),
        label: `Your rating of ${movie.title}`,
        onRate: (value) => save(() => session.rate(movie.id, value)),
        onClear: () => save(() => session.removeRating(movie.id)),
      }),
    );
  };
  render();
  return holder;
}
