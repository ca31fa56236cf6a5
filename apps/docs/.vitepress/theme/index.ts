import type { Theme } from 'vitepress'
import DefaultTheme from 'vitepress/theme'
import KeyfobPlayground from './KeyfobPlayground.vue'
import './style.css'

export default {
  extends: DefaultTheme,
  enhanceApp({ app }) {
    app.component('KeyfobPlayground', KeyfobPlayground)
  },
} satisfies Theme
